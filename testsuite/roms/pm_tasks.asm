; Hardware task switching: CALL to a TSS and IRET back through the link,
; busy bits and NT, JMP to a busy task, a task gate in the IDT, a TSS that
; is too small (SDM vol. 3 ch. 7).
%include "harness.inc"

TSS_B     equ 0x3100
SEL_TSS_B equ 0x40
SEL_SMALL equ 0x48              ; a TSS descriptor with limit 0x20
SEL_GATE  equ 0x50              ; a task gate to TSS B

; INIT_TSS_B entry: a fresh 32-bit TSS for task B starting at `entry`.
%macro INIT_TSS_B 1
    mov edi, TSS_B
    mov ecx, 104 / 4
    xor eax, eax
    rep stosd
    mov dword [TSS_B + 0x20], %1          ; EIP
    mov dword [TSS_B + 0x24], 0x00000002  ; EFLAGS
    mov dword [TSS_B + 0x38], 0x8000      ; ESP
    mov dword [TSS_B + 0x4C], SEL_CODE32  ; CS
    mov dword [TSS_B + 0x50], SEL_DATA32  ; SS
    mov dword [TSS_B + 0x48], SEL_DATA32  ; ES
    mov dword [TSS_B + 0x54], SEL_DATA32  ; DS
    mov dword [TSS_B + 0x58], SEL_DATA32  ; FS
    mov dword [TSS_B + 0x5C], SEL_DATA32  ; GS
    mov dword [TSS_B + 0x2C], 0xB0B0      ; ECX: task B's own value
    mov word [TSS_B + 0x66], 104
    ; Available 32-bit TSS descriptor at SEL_TSS_B.
    SET_DESC SEL_TSS_B / 8, TSS_B, 0x67, 0x89, 0x0
%endmacro

test_main:
    mov esi, s_hello
    call print

    INIT_TSS_B task_b
    mov ecx, 0xA0A0
    BEGIN_EXPECT
    call SEL_TSS_B:0
    END_EXPECT NO_FAULT, NO_FAULT, "CALL to a TSS and IRET back"
    cmp ecx, 0xA0A0
    CHECK "the caller's registers come back from its TSS"
    cmp dword [scratch], SEL_TSS_B
    CHECK "TR names the new task inside it"
    cmp dword [scratch + 4], 0x38
    CHECK "the new TSS links back to the caller"
    cmp dword [scratch + 8], 1
    CHECK "NT is set in the called task"
    cmp dword [scratch + 12], 0xB0B0
    CHECK "the called task got its registers from its TSS"
    mov al, [GDT_BASE + SEL_TSS_B + 5]
    and al, 0x0F
    cmp al, 0x9
    CHECK "IRET marks the called task available again"
    mov al, [GDT_BASE + SEL_TSS + 5]
    and al, 0x0F
    cmp al, 0xB
    CHECK "the caller's TSS stays busy"
    str ax
    cmp ax, SEL_TSS
    CHECK "TR is back on the caller"

    BEGIN_EXPECT
    jmp SEL_TSS:0
    END_EXPECT 13, SEL_TSS, "JMP to a busy TSS: #GP(sel)"

    ; A TSS descriptor whose limit is below 0x67.
    SET_DESC SEL_SMALL / 8, TSS_B, 0x20, 0x89, 0x0
    BEGIN_EXPECT
    call SEL_SMALL:0
    END_EXPECT 10, SEL_SMALL, "TSS limit below 0x67: #TS(sel)"

    ; A task gate in the IDT (vector 0x40) to task B.
    INIT_TSS_B task_b_int
    mov word [IDT_BASE + 0x40 * 8 + 0], 0
    mov word [IDT_BASE + 0x40 * 8 + 2], SEL_TSS_B
    mov word [IDT_BASE + 0x40 * 8 + 4], 0x8500      ; P, DPL 0, task gate
    mov word [IDT_BASE + 0x40 * 8 + 6], 0
    mov dword [scratch + 16], 0
    BEGIN_EXPECT
    int 0x40
    END_EXPECT NO_FAULT, NO_FAULT, "INT through a task gate and IRET back"
    cmp dword [scratch + 16], 0x1234
    CHECK "the interrupt task ran"

    jmp finish

task_b:
    str ax
    movzx eax, ax
    mov [scratch], eax
    movzx eax, word [TSS_B]
    mov [scratch + 4], eax
    pushfd
    pop eax
    shr eax, 14
    and eax, 1
    mov [scratch + 8], eax
    mov [scratch + 12], ecx
    mov ecx, 0xDEAD
    iretd

task_b_int:
    mov dword [scratch + 16], 0x1234
    iretd

s_hello: db "pm_tasks: protected mode entered", 10, 0

%include "rom_end.inc"
